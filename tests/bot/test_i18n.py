"""bot.i18n's gettext: under force_locale it reads the forced locale's catalog directly; outside
it, and in lazy strings used after the block, it is flask_babel's (the request's locale)."""

from __future__ import annotations

import threading

import flask_babel

from bot.i18n import force_locale, gettext, lazy_gettext

HINT = "Please choose one of the buttons below."
HINT_TH = "กรุณาเลือกจากปุ่มด้านล่างค่ะ"


def test_forced_locales_nest_and_give_way(app):
    lazy = lazy_gettext(HINT)
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert gettext(HINT) == HINT  # the request's (English) catalog, through flask_babel
        with force_locale("th"):
            assert gettext(HINT) == HINT_TH
            assert str(lazy) == HINT_TH
            assert str(flask_babel.get_locale()) == "th"  # flask_babel sees it too
            with force_locale("en"):
                assert gettext(HINT) == HINT
            assert gettext(HINT) == HINT_TH
        assert gettext(HINT) == HINT
        assert str(lazy) == HINT


def test_the_forced_catalog_is_flask_babels_own_and_variables_are_filled(app):
    with app.app_context(), force_locale("th"):
        assert gettext(HINT) == flask_babel.gettext(HINT)
        assert gettext("%(n)s%%", n=5) == flask_babel.gettext("%(n)s%%", n=5) == "5%"


def test_a_forced_locale_belongs_to_its_thread(app):
    seen = []

    def other() -> None:
        with app.test_request_context("/", headers={"Accept-Language": "en"}):
            seen.append(gettext(HINT))

    with app.app_context(), force_locale("th"):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert gettext(HINT) == HINT_TH
    assert seen == [HINT]
