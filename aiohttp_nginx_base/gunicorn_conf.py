"""gunicorn's config file for the stack: it loads the settings render.py wrote as JSON.

supervisord starts gunicorn with `--config <this file>` and names the JSON file in
AIOHTTP_NGINX_GUNICORN_SETTINGS. gunicorn executes this file afresh on every reload
(SIGHUP), so a re-render is picked up. GUNICORN_CONF (or APP_DIR/gunicorn_conf.py)
is loaded after these values and wins, except for bind; GUNICORN_CMD_ARGS, read by
gunicorn itself, wins over both.
"""

import json as _json
import os as _os
import runpy as _runpy

with open(_os.environ["AIOHTTP_NGINX_GUNICORN_SETTINGS"], encoding="utf-8") as _file:
    _settings = _json.load(_file)

_user_conf = _settings.pop("user_conf")
# gunicorn has read (and validated) FORWARDED_ALLOW_IPS by now, started without it: the app sees the user's value
_app_forwarded = _settings.pop("app_forwarded_allow_ips")
if _app_forwarded is None:
    _os.environ.pop("FORWARDED_ALLOW_IPS", None)
else:
    _os.environ["FORWARDED_ALLOW_IPS"] = _app_forwarded
globals().update(_settings)
if _user_conf:
    globals().update({k: v for k, v in _runpy.run_path(_user_conf).items() if not k.startswith("__") and k != "bind"})
