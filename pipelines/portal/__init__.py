"""汇总 · 报送平台: the reporting units' web portal (``huizong portal``).

Units log in with an account created from the register (``accounts``), upload their
weekly files into the landing area the weekly run reads (``uploads``) and get a pre-check
receipt at once (``precheck``); every action is audited (``audit``). The FastAPI app is
``app``; its pages are the Jinja2 templates beside it.
"""
