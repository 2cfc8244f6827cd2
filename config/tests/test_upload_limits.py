"""The reverse proxy takes every upload the app takes, and little more: a file over
IMPORT_MAX_UPLOAD_BYTES reaches the app, which refuses it with a sentence, instead of nginx
answering its own HTML 413 (docs/operations.md, "Upload limits")."""
import re
from pathlib import Path

from django.conf import settings

NGINX_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}
FORM_OVERHEAD = 64 * 2**10  # the import form's other fields and the multipart framing, with room to spare


def proxy_body_limit() -> int:
    conf = (Path(settings.BASE_DIR) / "deploy" / "nginx.conf").read_text()
    found = re.findall(r"^\s*client_max_body_size\s+(\d+)([kKmMgG]?)\s*;", conf, flags=re.M)
    assert len(found) == 1, f"deploy/nginx.conf should set client_max_body_size once, found {found}"
    number, unit = found[0]
    return int(number) * NGINX_UNITS[unit.lower()]


def test_the_proxy_lets_through_every_file_the_app_takes_and_its_refusals():
    limit, app = proxy_body_limit(), settings.IMPORT_MAX_UPLOAD_BYTES
    assert limit >= app + FORM_OVERHEAD, (
        f"nginx refuses bodies over {limit / 2**20:g} MiB but IMPORT_MAX_UPLOAD_BYTES takes {app / 2**20:g} MiB files: "
        "raise client_max_body_size to IMPORT_MAX_UPLOAD_BYTES + 1 MiB")
    assert limit <= app + 16 * 2**20, (
        f"nginx takes {limit / 2**20:g} MiB bodies, far over IMPORT_MAX_UPLOAD_BYTES ({app / 2**20:g} MiB): "
        "set client_max_body_size to IMPORT_MAX_UPLOAD_BYTES + 1 MiB")


def test_the_operations_guide_states_both_limits_as_shipped():
    guide = (Path(settings.BASE_DIR) / "docs" / "operations.md").read_text()
    assert f"`{proxy_body_limit() // 2**20}m`" in guide
    assert f"| `IMPORT_MAX_UPLOAD_BYTES` | {settings.IMPORT_MAX_UPLOAD_BYTES} (" in guide
