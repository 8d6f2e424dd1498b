"""gunicorn's config file for the stack: it loads the settings render.py wrote as JSON.

supervisord starts gunicorn with `--config <this file>` and names the JSON file in
AIOHTTP_NGINX_GUNICORN_SETTINGS. gunicorn executes this file afresh on every reload
(SIGHUP), so a re-render is picked up. GUNICORN_CONF (or APP_DIR/gunicorn_conf.py)
is loaded after these values and wins, except for bind; GUNICORN_CMD_ARGS, read by
gunicorn itself, wins over both.
"""

import json as _json
import os as _os
import pwd as _pwd
import runpy as _runpy
import signal as _signal

with open(_os.environ["AIOHTTP_NGINX_GUNICORN_SETTINGS"], encoding="utf-8") as _file:
    _settings = _json.load(_file)

_user_conf = _settings.pop("user_conf")
_app_load_failure = _settings.pop("app_load_failure")
_app_user = _settings.pop("app_user")  # APP_USER, when the stack runs as root and it names another user
# gunicorn has read (and validated) FORWARDED_ALLOW_IPS by now, started without it: the app sees the user's value
_app_forwarded = _settings.pop("app_forwarded_allow_ips")
if _app_forwarded is None:
    _os.environ.pop("FORWARDED_ALLOW_IPS", None)
else:
    _os.environ["FORWARDED_ALLOW_IPS"] = _app_forwarded
globals().update(_settings)
if _user_conf:
    globals().update({k: v for k, v in _runpy.run_path(_user_conf).items() if not k.startswith("__") and k != "bind"})

# APP_USER: each worker, whatever WORKER_CLASS, switches to that user for good right after the fork, before it loads
# the app (its groups are the user's own: root's supplementary groups go too). Not gunicorn's own `user`/`group`
# settings: they keep root's supplementary groups, and would hand the socket to the app's group, which nginx's
# workers are not in. gunicorn's arbiter keeps root; its socket stays the stack's (the worker accepts on what it
# inherited). A user's own post_fork runs after, as that user.
_users_post_fork = globals().get("post_fork")


def post_fork(server, worker):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN201 - gunicorn's hook
    if _app_user is not None:
        entry = _pwd.getpwnam(_app_user)
        # gunicorn's heartbeat file, made by the arbiter: the worker touches it with explicit times (owner only)
        _os.fchown(worker.tmp.fileno(), entry.pw_uid, entry.pw_gid)
        _os.initgroups(entry.pw_name, entry.pw_gid)
        _os.setgid(entry.pw_gid)
        _os.setuid(entry.pw_uid)
        _os.environ.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)
    if _users_post_fork is not None:
        _users_post_fork(server, worker)


# APP_USER: a worker that failed to load the app leaves its reason and exits, since it may not signal the arbiter
# (root) the way a root worker does (worker.py): the arbiter, reaping it, stops itself (SIGTERM, handled in its
# main loop, before it would replace the worker). A user's own child_exit still runs.
_users_child_exit = globals().get("child_exit")


def child_exit(server, worker):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN201 - gunicorn's hook
    if _os.path.lexists(_app_load_failure):
        _os.kill(_os.getpid(), _signal.SIGTERM)
    if _users_child_exit is not None:
        _users_child_exit(server, worker)
