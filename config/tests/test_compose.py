"""docker-compose.yml is valid (Debian's docker-compose validates it; no engine runs here), every
service's command names something that exists in this project, and the reverse proxy's config
(deploy/nginx.conf) is what nginx runs: Debian's nginx parses it (`nginx -t`) and serves with it,
in front of the app's server, while 32 slow clients trickle requests at it. No container runs
here, so three lines are adapted to this machine (the upstream's address, the port nginx
listens on, the static files' folder); the test checks each occurs exactly once."""
import importlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from config.celery_app import QUEUES
from config.tests.slow_clients import answers, get_seconds, slow_clients
from conftest import free_port, wait_for

ROOT = Path(settings.BASE_DIR)
# What an operator must provide (compose refuses to start without them).
REQUIRED = {"DJANGO_SECRET_KEY": "a-long-random-test-secret", "FLOWER_BASIC_AUTH": "ops:test-password"}


def _exe() -> str:
    exe = shutil.which("docker-compose")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not installed; .ci/run installs Debian's docker-compose")
        pytest.skip("docker-compose not installed (apt-get install docker-compose)")
    return exe


def _config(*args, env_extra=None, exclude=()):
    env = {k: v for k, v in os.environ.items() if k not in REQUIRED and k not in exclude}
    env.update(env_extra or {})
    return subprocess.run([_exe(), "-f", str(ROOT / "docker-compose.yml"), "config", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def compose():
    check = _config("-q", env_extra=REQUIRED)
    assert check.returncode == 0, check.stderr
    rendered = _config(env_extra=REQUIRED)
    assert rendered.returncode == 0, rendered.stderr
    return yaml.safe_load(rendered.stdout)


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_compose_refuses_to_start_without_a_secret(missing):
    result = _config("-q", env_extra={k: v for k, v in REQUIRED.items() if k != missing})
    assert result.returncode != 0 and missing in result.stderr


def test_flower_asks_for_a_password_and_listens_on_loopback_only(compose):
    flower = compose["services"]["flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == REQUIRED["FLOWER_BASIC_AUTH"]
    published = [str(p) for p in flower.get("ports", [])]
    assert published and all(p.startswith("127.0.0.1:") for p in published), published


def test_the_stack_runs_with_https_enforced_by_default(compose):
    env = compose["services"]["web"]["environment"]
    assert env["DJANGO_SECRET_KEY"] == REQUIRED["DJANGO_SECRET_KEY"]
    assert env["DJANGO_SECURE_SSL_REDIRECT"] == "true" and env["DJANGO_SECURE_COOKIES"] == "true"
    assert int(env["DJANGO_HSTS_SECONDS"]) > 0
    # Behind the proxy, the client's address is the one the proxy adds to X-Forwarded-For.
    assert env["DJANGO_NUM_PROXIES"] == "1"


def test_services_present(compose):
    assert {"web", "proxy", "worker", "training-worker", "beat", "postgres", "redis", "flower"} <= set(
        compose["services"])


def _commands(compose):
    for name, service in compose["services"].items():
        command = service.get("command")
        if command and service.get("image") == "ranklab:latest":
            if isinstance(command, str):
                command = shlex.split(command)
            if command[:2] == ["sh", "-c"]:
                for part in command[2].split("&&"):
                    yield name, shlex.split(part)
            else:
                yield name, command


def test_each_command_exists_in_the_project(compose):
    consumed = set()
    seen = 0
    for name, argv in _commands(compose):
        seen += 1
        if argv[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(argv[2]), f"{name}: no module {argv[2]}"
        elif argv[0] == "python":
            assert (ROOT / argv[1]).exists(), f"{name}: {argv[1]} missing"
            if argv[1] == "manage.py":
                from django.core.management import get_commands

                assert argv[2] in get_commands(), f"{name}: no management command {argv[2]}"
        elif argv[0] == "celery":
            assert argv[1:3] == ["-A", "config"] and hasattr(importlib.import_module("config"), "celery_app")
            assert argv[3] in ("worker", "beat", "flower"), f"{name}: unknown celery command {argv[3]}"
            if argv[3] == "worker":
                queues = argv[argv.index("-Q") + 1].split(",")
                assert set(queues) <= set(QUEUES), f"{name}: unknown queue in {queues}"
                consumed |= set(queues)
        else:
            pytest.fail(f"{name}: unexpected command {argv}")
        assert shutil.which(argv[0]) or (ROOT / ".venv" / "bin" / argv[0]).exists() or argv[0] == "python"
    assert seen >= 5
    assert consumed == set(QUEUES), f"queues nobody consumes: {set(QUEUES) - consumed}"
    training = [argv for name, argv in _commands(compose) if name == "training-worker"][0]
    assert training[training.index("--concurrency") + 1] == "1"


def _volume(spec) -> tuple[str, str, str]:
    """(source, target, mode) of a volume as `docker-compose config` renders it."""
    if isinstance(spec, dict):
        return spec["source"], spec["target"], "ro" if spec.get("read_only") else "rw"
    source, target, *mode = spec.split(":")
    return source, target, (mode or ["rw"])[0]


def test_only_the_proxy_is_published_and_it_serves_the_apps_static_files(compose):
    """Every request goes through nginx (web publishes no port); nginx gets deploy/nginx.conf and
    the data volume, where web's collectstatic writes, read-only."""
    web, proxy = compose["services"]["web"], compose["services"]["proxy"]
    assert not web.get("ports")
    assert [p["target"] if isinstance(p, dict) else p.split(":")[-1] for p in proxy["ports"]] in ([80], ["80"])
    assert "collectstatic" in web["command"][-1] and "config.server" in web["command"][-1]
    mounts = {target: (source, mode) for source, target, mode in map(_volume, proxy["volumes"])}
    assert mounts["/etc/nginx/conf.d/default.conf"] == (str(ROOT / "deploy" / "nginx.conf"), "ro")
    web_data = next(source for source, target, _ in map(_volume, web["volumes"]) if target == "/data")
    assert mounts["/data"] == (web_data, "ro")
    # nginx serves STATIC_URL from where collectstatic writes in the container (STATIC_ROOT under RANKLAB_DATA_DIR).
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    static_root = Path(web["environment"]["RANKLAB_DATA_DIR"]) / settings.STATIC_ROOT.relative_to(settings.DATA_DIR)
    assert f"location {settings.STATIC_URL} {{" in conf and f"alias {static_root}/;" in conf


@pytest.fixture(scope="module")
def nginx():
    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed; .ci/run installs Debian's nginx-light")
        pytest.skip("nginx not installed (apt-get install nginx-light)")
    return exe


def _proxy_config(tmp: Path, app_port: int, proxy_port: int) -> Path:
    """deploy/nginx.conf for this machine, inside the main config the nginx image has."""
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    for old, new in (("server web:8000;", f"server 127.0.0.1:{app_port};"),
                     ("listen 80;", f"listen 127.0.0.1:{proxy_port};"),
                     ("alias /data/staticfiles/;", f"alias {tmp}/staticfiles/;")):
        assert conf.count(old) == 1, old
        conf = conf.replace(old, new)
    (tmp / "default.conf").write_text(conf)
    for sub in ("staticfiles", "temp"):
        (tmp / sub).mkdir(exist_ok=True)
    temp = "".join(f"    {kind}_temp_path {tmp}/temp/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                                  "scgi"))
    main = tmp / "nginx.conf"
    main.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")  # workers must read the test's private folder
        + f"daemon off;\nworker_processes 1;\npid {tmp}/nginx.pid;\nerror_log stderr warn;\n"
        "events { worker_connections 1024; }\n"
        f"http {{\n    include /etc/nginx/mime.types;\n    access_log off;\n{temp}    include {tmp}/default.conf;\n}}\n")
    return main


def test_nginx_accepts_the_proxy_config(nginx, tmp_path):
    main = _proxy_config(tmp_path, free_port(), free_port())
    check = subprocess.run([nginx, "-t", "-c", str(main), "-e", "stderr"], capture_output=True, text=True)
    assert check.returncode == 0 and "test is successful" in check.stderr, check.stderr


@pytest.mark.process
def test_behind_the_proxy_32_slow_clients_do_not_delay_a_normal_request(nginx, tmp_path):
    """The web container's server (config/server.py's own settings) behind nginx with the
    compose config: slow heads and slow uploads wait in nginx, and a normal request is answered
    within 500 ms; a static file comes from nginx itself."""
    data = tmp_path / "data"
    app_port, proxy_port = free_port(), free_port()
    main = _proxy_config(tmp_path, app_port, proxy_port)
    (tmp_path / "staticfiles" / "probe.css").write_text("body { color: #123456 }")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(RANKLAB_DATA_DIR=str(data), PYTHONPATH=str(ROOT))
    web = subprocess.Popen([sys.executable, "-m", "config.server", "--port", str(app_port)], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=open(tmp_path / "web.log", "wb"), start_new_session=True)
    proxy = subprocess.Popen([nginx, "-c", str(main), "-e", "stderr"], stdout=subprocess.DEVNULL,
                             stderr=open(tmp_path / "nginx.log", "wb"), start_new_session=True)
    try:
        wait_for(lambda: answers(proxy_port), timeout=90, message="the app through nginx")
        for _ in range(10):
            get_seconds(proxy_port)
        with slow_clients(proxy_port, 32) as failed:
            latencies = []
            for _ in range(20):
                latencies.append(get_seconds(proxy_port, timeout=2))
                time.sleep(0.1)
        assert max(latencies) < 0.5, f"normal requests took up to {max(latencies):.2f} s"
        assert failed == []
        import httpx

        static = httpx.get(f"http://127.0.0.1:{proxy_port}/static/probe.css")
        assert static.status_code == 200 and static.text == "body { color: #123456 }"
        assert "Expires" in static.headers and "granian" not in static.headers.get("server", "").lower()
    finally:
        for proc in (proxy, web):
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in (proxy, web):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.process
def test_the_proxy_passes_x_forwarded_proto_only_from_a_listed_tls_terminator(nginx, tmp_path):
    """Behind a TLS terminator, HSTS and the HTTPS redirect need the terminator's X-Forwarded-Proto
    to reach Django; from any other client the header is this hop's scheme, so nobody can claim
    HTTPS. The app is an echo server here: it answers with the header nginx passed on."""
    import http.server
    import threading

    import httpx

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = (self.headers.get("X-Forwarded-Proto") or "(none)").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    app = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    proxy_port = free_port()
    main = _proxy_config(tmp_path, app.server_address[1], proxy_port)
    conf = (tmp_path / "default.conf").read_text()
    listed = "    # 172.17.0.1 1;  # e.g. a TLS proxy on the docker host\n"
    assert conf.count(listed) == 1
    (tmp_path / "default.conf").write_text(conf.replace(listed, listed + "    127.0.0.2 1;\n"))
    check = subprocess.run([nginx, "-t", "-c", str(main), "-e", "stderr"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proxy = subprocess.Popen([nginx, "-c", str(main), "-e", "stderr"], stdout=subprocess.DEVNULL,
                             stderr=open(tmp_path / "nginx.log", "wb"), start_new_session=True)

    def proto(sent: str | None, source: str) -> str:
        with httpx.Client(transport=httpx.HTTPTransport(local_address=source)) as client:
            headers = {"X-Forwarded-Proto": sent} if sent else {}
            return client.get(f"http://127.0.0.1:{proxy_port}/", headers=headers).text

    try:
        wait_for(lambda: _answers_at(proxy_port), timeout=30, message="nginx")
        # The listed terminator (127.0.0.2) says the client used HTTPS: Django hears it.
        assert proto("https", "127.0.0.2") == "https"
        assert proto("http", "127.0.0.2") == "http"
        # Without a header, or with a value that is no scheme, nginx says what it saw itself.
        assert proto(None, "127.0.0.2") == "http"
        assert proto("https, http", "127.0.0.2") == "http"
        # Any other client's claim is overwritten.
        assert proto("https", "127.0.0.1") == "http"
    finally:
        os.killpg(proxy.pid, signal.SIGTERM)
        proxy.wait(timeout=20)
        app.shutdown()


def _answers_at(port: int) -> bool:
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
