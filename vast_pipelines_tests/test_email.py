import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from vast_pipelines.errors import OperatorError
from vast_pipelines.resources.email import EmailResource, parse_smtp_url
from vast_pipelines_tests.conftest import closed_port_url, notification
from vast_pipelines_tests.fakes import SmtpServer
from vast_pipelines_tests.senders import send_email

PASSWORD = "smtp-p@ss/SECRET"


@pytest.mark.parametrize(
    ("url", "security", "host", "port", "user", "password"),
    [
        ("smtp://mail.example.com", "plain", "mail.example.com", 25, None, None),
        (
            "smtp+starttls://ops%40bluefly.io:pw%40SECRET1@smtp.example.com",
            "starttls",
            "smtp.example.com",
            587,
            "ops@bluefly.io",
            "pw@SECRET1",
        ),
        ("smtps://u:SECRET2@smtp.example.com:2465", "tls", "smtp.example.com", 2465, "u", "SECRET2"),
    ],
)
def test_smtp_url_forms(url, security, host, port, user, password):
    target = parse_smtp_url(url)
    assert (target.security, target.host, target.port, target.username, target.password) == (
        security,
        host,
        port,
        user,
        password,
    )
    assert password is None or password not in repr(target) and password not in target.display


@pytest.mark.parametrize("url", ["http://x.example.com", "smtp://", "mail.example.com:25"])
def test_bad_smtp_urls_say_what_to_write(url):
    with pytest.raises(OperatorError, match="SMTP_URL"):
        parse_smtp_url(url)


def test_plain_smtp_delivers_to_alert_email_to(smtp_server):
    email = EmailResource(smtp_url=smtp_server.url, to="platform-ops@bluefly.io, oncall@bluefly.io")
    delivery = email.send("[vast_pipelines] test", "Month-to-date $55.00")
    assert delivery.status == "delivered"
    [message] = smtp_server.messages
    assert message["Subject"] == "[vast_pipelines] test"
    assert message["To"] == "platform-ops@bluefly.io, oncall@bluefly.io"
    assert message["From"] == "platform-ops@bluefly.io"  # ALERT_EMAIL_FROM unset: the first recipient
    assert message.get_content().strip() == "Month-to-date $55.00"
    assert message["Message-ID"] == delivery.ref


def test_login_and_sender_from_the_smtp_user():
    with SmtpServer(user="alerts@bluefly.io", password=PASSWORD) as server:
        delivery = EmailResource(smtp_url=server.url).send("s", "b")
        assert delivery.status == "delivered" and server.logins == ["alerts@bluefly.io"]
        assert server.messages[0]["From"] == "alerts@bluefly.io"
        explicit = EmailResource(smtp_url=server.url, sender="vast-pipelines@bluefly.io").send("s", "b")
        assert explicit.status == "delivered" and server.messages[1]["From"] == "vast-pipelines@bluefly.io"


def test_wrong_password_is_named_without_showing_it():
    with SmtpServer(user="alerts@bluefly.io", password="right") as server:
        url = server.url.replace("right", PASSWORD.replace("@", "%40").replace("/", "%2F"))
        delivery = EmailResource(smtp_url=url).send("s", "b")
    assert delivery.status == "failed"
    assert "rejected the login of alerts@bluefly.io" in delivery.error and "SMTP_URL" in delivery.error
    assert PASSWORD not in delivery.error and "SECRET" not in delivery.error


def test_unreachable_refused_and_unconfigured_are_outcomes_not_exceptions(smtp_server):
    down = EmailResource(smtp_url=closed_port_url().replace("http", "smtp"), timeout_seconds=2).send("s", "b")
    assert down.status == "failed" and "unreachable" in down.error
    smtp_server.refuse = "451 4.3.0 try again later"
    refused = EmailResource(smtp_url=smtp_server.url).send("s", "b")
    assert refused.status == "failed" and "451" in refused.error and "try again later" in refused.error
    assert EmailResource().send("s", "b").status == "not_configured"


@pytest.fixture(scope="module")
def loopback_certificate(tmp_path_factory) -> Path:
    """A self-signed certificate for 127.0.0.1 (made with the openssl CLI)."""
    if not shutil.which("openssl"):
        pytest.skip("the openssl CLI is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(folder / "key.pem"),
            "-out",
            str(folder / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    return folder


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["starttls", "smtps"])
def test_tls_verifies_the_server_certificate(loopback_certificate, monkeypatch, implicit_tls):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(loopback_certificate / "cert.pem", loopback_certificate / "key.pem")
    with SmtpServer(user="u", password=PASSWORD, tls=context, implicit_tls=implicit_tls) as server:
        untrusted = EmailResource(smtp_url=server.url, timeout_seconds=5).send("s", "b")
        assert untrusted.status == "failed" and "CERTIFICATE_VERIFY_FAILED" in untrusted.error
        monkeypatch.setenv("SSL_CERT_FILE", str(loopback_certificate / "cert.pem"))
        trusted = EmailResource(smtp_url=server.url, timeout_seconds=5).send("over tls", "b")
        assert trusted.status == "delivered", trusted.error
        assert server.logins == ["u"]
        assert [m["Subject"] for m in server.messages] == ["over tls"]
    assert PASSWORD not in untrusted.error


def test_email_goes_through_the_outbox(database, smtp_server):
    sent = send_email(
        database, EmailResource(smtp_url=smtp_server.url), subject="subj", body="body", kind="test", dedupe_key="k"
    )
    row = notification(database, sent.outbox_id)
    assert (row["status"], row["destination"], row["subject"]) == ("delivered", "platform-ops@bluefly.io", "subj")
    again = send_email(
        database, EmailResource(smtp_url=smtp_server.url), subject="subj", body="body", kind="test", dedupe_key="k"
    )
    assert again.status == "duplicate" and len(smtp_server.messages) == 1
