"""Officer accounts on each database: argon2id passwords, bearer tokens (hashed, expiring,
revocable), the LINE link, and the commands create-user, create-token, revoke-token,
create-invite --username and create-link-code run as real processes."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from bot.extensions import db
from models import ApiToken, Invitation, LinkCode, Officer
from services import accounts
from services.accounts import AccountError
from tests import factories as f
from tests.support import flask_command, flask_env


def test_passwords_are_argon2id_and_checked(s):
    officer = f.officer(s)
    assert officer.password_hash.startswith("$argon2id$")
    assert "correct horse 1" not in officer.password_hash
    assert accounts.check_password(officer, "correct horse 1")
    assert not accounts.check_password(officer, "correct horse 2")
    assert not accounts.check_password(officer, "")


@pytest.mark.parametrize(("changes", "message"), [
    ({"username": "A B"}, "username"),
    ({"username": "x"}, "username"),
    ({"role": "volunteer"}, "role"),
    ({"agency": "NOPE"}, "agency"),
    ({"area": "999999"}, "area"),
    ({"password": "short"}, "password"),
])
def test_bad_accounts_are_refused_with_the_reason(s, changes, message):
    values = {"username": "somchai.k", "password": "long enough pw", "role": "officer",
              "agency": "LEARN", "area": "4007"}
    values.update(changes)
    with pytest.raises(AccountError, match=message):
        accounts.create_officer(s, **values)


def test_a_username_is_taken_once_whatever_its_case(s):
    accounts.create_officer(s, "Somchai.K", "long enough pw", "officer", "LEARN", "4007")
    s.commit()
    assert accounts.find_officer(s, "SOMCHAI.k").username == "somchai.k"
    with pytest.raises(AccountError, match="taken"):
        accounts.create_officer(s, "somchai.k", "long enough pw", "officer", "LEARN", "4007")


def test_tokens_are_stored_hashed_and_stop_working_when_expired_revoked_or_deactivated(s):
    officer = f.officer(s)
    token, row = accounts.create_token(s, officer, name="district dashboard")
    s.commit()
    assert token.startswith("smo_") and len(token) > 40
    assert token not in row.token_hash and row.prefix == token[:10]
    assert accounts.officer_for_token(s, token).id == officer.id
    assert accounts.officer_for_token(s, token + "x") is None
    assert accounts.officer_for_token(s, "Bearer " + token) is None
    assert accounts.officer_for_token(s, "") is None
    # expiry
    row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    s.commit()
    assert accounts.officer_for_token(s, token) is None
    # revocation
    second, second_row = accounts.create_token(s, officer)
    s.commit()
    assert accounts.revoke_token(s, second_row.id) is True
    assert accounts.revoke_token(s, second_row.id) is False
    s.commit()
    assert accounts.officer_for_token(s, second) is None
    # a deactivated account's tokens stop too, and it gets no new one
    third, _ = accounts.create_token(s, officer)
    officer.active = False
    s.commit()
    assert accounts.officer_for_token(s, third) is None
    with pytest.raises(AccountError):
        accounts.create_token(s, officer)


def test_an_officer_invitation_links_the_line_user_to_a_named_or_new_account(s):
    named = f.officer(s, agency="SOCIAL", area="40", username="pm.kk")
    line = f.line_user(s, role="officer")
    invitation = Invitation(code_hash="x" * 64, role="officer", agency_code="SOCIAL",
                            area_code="40", officer_id=named.id,
                            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    s.add(invitation)
    s.commit()
    assert accounts.link_line_officer(s, line, invitation).id == named.id
    s.commit()
    assert named.line_user_id == line.id
    # no named account: a LINE-only account with the invitation's scope, no password
    other = f.line_user(s, role="officer", name="สมศรี ใจงาม")
    plain = Invitation(code_hash="y" * 64, role="officer", agency_code="LEARN", area_code="4007",
                       expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    s.add(plain)
    s.commit()
    made = accounts.link_line_officer(s, other, plain)
    s.commit()
    assert (made.agency_code, made.area_code, made.role) == ("LEARN", "4007", "officer")
    assert made.password_hash is None and made.full_name == "สมศรี ใจงาม"
    assert made.line_user_id == other.id
    assert accounts.officer_for_line_user(s, other).id == made.id
    assert not accounts.check_password(made, "")


def _run(app, args):
    proc = flask_command(args, flask_env(app))
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def test_create_user_and_create_token_commands(app, session):
    code, out, err = _run(app, ["create-user", "--username", "noi.learn", "--password",
                                "a long password", "--role", "supervisor", "--agency", "LEARN",
                                "--area", "4007", "--name", "น้อย ส่งเสริม"])
    assert code == 0, err
    officer = session.scalar(sa.select(Officer).where(Officer.username == "noi.learn"))
    assert out.strip().splitlines()[-1] == str(officer.id)
    assert (officer.role, officer.agency_code, officer.area_code) == ("supervisor", "LEARN",
                                                                       "4007")
    code, out, err = _run(app, ["create-token", "noi.learn", "--days", "1"])
    assert code == 0, err
    token = out.strip().splitlines()[-1]
    with app.app_context():
        assert accounts.officer_for_token(db.session, token).username == "noi.learn"
        db.session.commit()
        db.session.remove()
    row = session.scalar(sa.select(ApiToken))
    assert dt.timedelta(hours=23) < row.expires_at - dt.datetime.now(dt.UTC) <= \
        dt.timedelta(days=1)
    code, out, err = _run(app, ["revoke-token", str(row.id)])
    assert code == 0, err
    with app.app_context():
        assert accounts.officer_for_token(db.session, token) is None
        db.session.remove()
    # mistakes: a clear message, exit code 2, nothing made
    for args, says in ((["create-user", "--username", "noi.learn", "--password",
                         "a long password", "--role", "officer", "--agency", "LEARN",
                         "--area", "4007"], "taken"),
                       (["create-user", "--username", "x2", "--password", "a long password",
                         "--role", "officer", "--agency", "LEARN", "--area", "77"], "area"),
                       (["create-token", "nobody"], "no account")):
        code, out, err = _run(app, args)
        assert code == 2 and says in err and out == ""
    assert session.scalar(sa.select(sa.func.count()).select_from(Officer)) == 1


def test_create_invite_for_a_named_account_and_create_link_code(app, session):
    with app.app_context():
        f.officer(db.session, agency="SOCIAL", area="40", username="pm.kk")
        volunteer = f.line_user(db.session)
        case = f.report(db.session, app.config["SECRET_KEY"], volunteer)
        reference = case.reference
        db.session.remove()
    code, out, err = _run(app, ["create-invite", "--role", "officer", "--username", "pm.kk"])
    assert code == 0, err
    assert len(out.strip().splitlines()[-1]) == 6
    invitation = session.scalar(sa.select(Invitation))
    assert (invitation.agency_code, invitation.area_code) == ("SOCIAL", "40")
    assert invitation.officer_id is not None
    # a reference typed the way people type it
    typed = reference.replace("KK-", "").replace("-", " ")
    code, out, err = _run(app, ["create-link-code", typed])
    assert code == 0, err
    assert out.strip().splitlines()[-1].isdigit()
    assert session.scalar(sa.select(sa.func.count()).select_from(LinkCode)) == 1
    code, out, err = _run(app, ["create-link-code", "KK-2500-00001"])
    assert code == 2 and "no case" in err


def test_a_deactivated_account_holding_the_line_user_lets_go_of_it(s):
    line = f.line_user(s, role="officer")
    old = f.officer(s, agency="LEARN", area="4007", line=line)
    old.active = False
    s.commit()
    invitation = Invitation(code_hash="z" * 64, role="officer", agency_code="SOCIAL",
                            area_code="40",
                            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    s.add(invitation)
    s.commit()
    made = accounts.link_line_officer(s, line, invitation)
    s.commit()
    assert made.id != old.id and made.line_user_id == line.id
    assert old.line_user_id is None
