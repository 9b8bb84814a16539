"""Steward review: findings lifecycle, receipts (回执), and the commands behind the CLI and the plugin."""
