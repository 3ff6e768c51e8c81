"""Issue 17: guides say Clear chat, and the hash services say they need the image on the device."""

from __future__ import annotations

from safetybot.core.menus import GuideId
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts


def test_no_guide_but_privacy_sends_people_to_erase_everything_to_clear_the_chat(
    texts: Texts,
) -> None:
    for locale in ("en", "es"):
        erase = texts.text(locale, "button.forget")
        clear = texts.text(locale, "button.clear")
        for guide in GuideId:
            body = texts.guide(locale, guide.value).body
            if guide is not GuideId.PRIVACY:
                assert f'"{erase}"' not in body, (locale, guide)
        for guide in (GuideId.DOCUMENTING, GuideId.SOMEONE_YOU_KNOW):
            assert f'"{clear}"' in texts.guide(locale, guide.value).body


def test_stopncii_and_take_it_down_say_the_image_must_be_on_the_device(
    texts: Texts, directory: Directory
) -> None:
    words = {"en": "own device", "es": "propio dispositivo"}
    for locale, phrase in words.items():
        for key in ("route.stopncii", "route.take_it_down"):
            assert phrase in texts.text(locale, key), (locale, key)
        for resource in directory:
            if resource.id in ("int-stopncii", "int-take-it-down"):
                assert phrase in (resource.localized(resource.helps_with, locale, "en") or "")
