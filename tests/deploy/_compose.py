"""Helpers for the deployment checks: read docker-compose.yml, the Dockerfile, the lock
file and pipelines/settings.py the way Docker / Compose / the code would."""
from __future__ import annotations

import ast
import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
LOCK = REPO / "requirements" / "requirements.lock"
SETTINGS = REPO / "pipelines" / "settings.py"
PG_INIT_DIR = REPO / "docker" / "postgres-init"
MINIO_INIT_SCRIPT = REPO / "docker" / "minio-init" / "create-buckets.sh"

AIRFLOW_SERVICES = ("airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker")
ONE_SHOT_SERVICES = {"airflow-init", "minio-init", "airflow-cli"}

_VAR = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
                  r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def interpolate(value, env: dict[str, str] | None = None):
    """Compose variable interpolation (${X}, ${X:-d}, ${X-d}, ${X:?e}, ${X:+r}, $$) with `env`
    standing in for the shell/.env; an empty env gives the file's defaults."""
    env = env or {}
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("name") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        val = env.get(name)
        if op == ":-":
            return val if val else arg
        if op == "-":
            return val if val is not None else arg
        if op in (":?", "?"):
            if not val:
                raise KeyError(f"{name} required: {arg}")
            return val
        if op in (":+", "+"):
            return arg if val else ""
        return val or ""

    return _VAR.sub(sub, value)


def service_env(compose: dict, service: str, env: dict[str, str] | None = None) -> dict[str, str]:
    raw = compose["services"][service].get("environment") or {}
    if isinstance(raw, list):  # KEY=VALUE list form
        raw = dict(item.split("=", 1) for item in raw)
    return {k: "" if v is None else str(interpolate(v, env)) for k, v in raw.items()}


def settings_env_names() -> set[str]:
    """Environment variable names pipelines/settings.py reads: _env("X", ...),
    os.environ.get("X"), os.getenv("X"), os.environ["X"]."""
    tree = ast.parse(SETTINGS.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            f = node.func
            dotted = ast.unparse(f)
            if dotted in ("_env", "os.environ.get", "os.getenv", "environ.get", "getenv"):
                names.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in ("os.environ", "environ") \
                and isinstance(node.slice, ast.Constant):
            names.add(node.slice.value)
    return names


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", line)
        if m:
            pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return pins


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, buf = [], ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def dockerignored(path: str) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or one of its parent
    directories decides; `!` re-includes."""
    patterns = []
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append(line)
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        rx = _glob_to_regex(pat.strip("/"))
        if any(rx.fullmatch(p) for p in prefixes):
            ignored = not negate
    return ignored


def _glob_to_regex(pat: str) -> re.Pattern:
    out = ""
    i = 0
    while i < len(pat):
        if pat.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pat.startswith("**", i):
            out += ".*"
            i += 2
        else:
            c = pat[i]
            out += "[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c)
            i += 1
    return re.compile(out)


def url_parts(url: str):
    return urlsplit(url)


