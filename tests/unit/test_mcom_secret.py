"""The shared secret MCOM's integration bus presents: configured, read, checked."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.adapters.shared_secret import SharedSecret
from service.settings import Settings

SECRET = "0123456789abcdef-registered"


@pytest.mark.parametrize(
    ("presented", "admitted"),
    [
        (f"Bearer {SECRET}", True),
        (f"bearer {SECRET}", True),
        (f"  Bearer   {SECRET} ", True),
        (f"Bearer {SECRET}x", False),
        (f"Bearer {SECRET[:-1]}", False),
        (f"Basic {SECRET}", False),
        (SECRET, False),
        ("Bearer", False),
        ("", False),
        (None, False),
    ],
)
def test_a_bearer_secret_is_admitted_only_whole_and_with_its_scheme(presented, admitted):
    secret = SharedSecret(header="Authorization", scheme="Bearer", secret=SECRET)
    assert secret.admits(presented) is admitted


def test_without_a_scheme_the_header_holds_the_secret_alone():
    secret = SharedSecret(header="X-Integration-Secret", scheme="", secret=SECRET)
    assert secret.admits(SECRET)
    assert not secret.admits(f"Bearer {SECRET}")
    assert not secret.admits("wrong")


def test_the_secret_never_shows_in_a_repr():
    assert SECRET not in repr(SharedSecret(header="Authorization", scheme="Bearer", secret=SECRET))


def test_the_ingress_is_closed_until_a_secret_is_configured():
    assert Settings().mcom_secret() is None
    assert Settings(mcom_shared_secret="  ").mcom_secret() is None
    configured = Settings(mcom_shared_secret=SECRET).mcom_secret()
    assert configured is not None
    assert (configured.header, configured.scheme) == ("Authorization", "Bearer")


def test_a_short_secret_or_a_bad_header_name_stops_the_service():
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(mcom_shared_secret="short")
    with pytest.raises(ValidationError, match="mcom_auth_header"):
        Settings(mcom_auth_header="X Secret")
    with pytest.raises(ValidationError, match="mcom_path"):
        Settings(mcom_path="mcom")


def test_the_secret_can_come_from_a_file_in_secrets_dir(tmp_path):
    (tmp_path / "mcom_shared_secret").write_text(SECRET + "\n")
    settings = Settings(_secrets_dir=tmp_path, mcom_auth_header="X-Integration-Secret",
                        mcom_auth_scheme="")
    secret = settings.mcom_secret()
    assert secret is not None and secret.admits(SECRET)
    assert secret.header == "X-Integration-Secret"
