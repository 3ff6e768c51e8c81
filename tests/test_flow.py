"""The pure conversation step: states, commands, buttons, bad input."""

from __future__ import annotations

from safetybot.core import menus
from safetybot.core.events import (
    Attachment,
    Command,
    Edited,
    Forwarded,
    Pressed,
    Text,
    Unsupported,
)
from safetybot.core.events import UnsupportedKind as Kind
from safetybot.core.flow import Forget, Mode, State, VaultEvent, step
from safetybot.core.menus import Action, GuideId, guides_menu, main_menu, understood_menu
from safetybot.core.replies import Button, Contacts, GuideText, T
from safetybot.core.understanding import Intent, Understanding


def _keys(outcome_replies: tuple[object, ...]) -> list[str]:
    return [p.key for r in outcome_replies for p in r.parts if isinstance(p, T)]  # type: ignore[attr-defined]


def test_start_shows_the_intro_and_main_menu() -> None:
    outcome = step(State(), Command("start"))
    assert _keys(outcome.replies) == ["start.intro"]
    assert outcome.replies[0].buttons == main_menu()


def test_notes_commands_and_buttons_go_to_the_vault() -> None:
    for event in (Command("note"), Command("notes"), Pressed("v"), Pressed("v:new")):
        outcome = step(State(), event)
        assert outcome.effects == (VaultEvent(event),), event


def test_in_vault_modes_text_is_never_read_as_a_command_or_a_crisis_word() -> None:
    for mode in (Mode.V_UNLOCK, Mode.V_CHOOSE, Mode.V_FIELD):
        event = Text("help me", hints=frozenset({"crisis"}))
        assert step(State(mode=mode), event).effects == (VaultEvent(event),)
        forwarded = Forwarded("pay or else", "x", "2026-01-01")
        assert step(State(mode=mode), forwarded).effects == (VaultEvent(forwarded),)


def test_forget_asks_once_and_only_yes_erases() -> None:
    asked = step(State(), Command("forget"))
    assert asked.state.mode is Mode.CONFIRM_FORGET and asked.effects == ()
    assert step(asked.state, Pressed(Action.FORGET_YES.value)).effects == (Forget(),)
    cancelled = step(asked.state, Pressed(Action.CANCEL.value))
    assert cancelled.effects == () and cancelled.state.mode is Mode.IDLE


def test_a_stale_yes_button_does_not_erase() -> None:
    outcome = step(State(), Pressed(Action.FORGET_YES.value))
    assert outcome.effects == ()
    assert _keys(outcome.replies) == ["button.stale"]


def test_forged_button_data_gets_a_calm_reply() -> None:
    for data in ("", "zz", "g:../../etc/passwd", "g:", "m" * 64):
        outcome = step(State(), Pressed(data))
        assert _keys(outcome.replies) == ["button.stale"], data
        assert outcome.effects == ()


def test_guides_open_in_place_with_a_way_back() -> None:
    menu = step(State(), Pressed(Action.GUIDES.value))
    assert menu.replies[0].buttons == guides_menu() and menu.replies[0].in_place
    guide = step(State(), Pressed(f"g:{GuideId.SPOTTING_SEXTORTION.value}"))
    assert guide.replies[0].parts == (GuideText("spotting_sextortion"),)


def test_unknown_commands_unsupported_messages_and_unplaced_words_get_a_menu() -> None:
    cases = {
        Command("frobnicate"): "unknown_command",
        Unsupported(Kind.STICKER): "unsupported",
        Text("hello?"): "understand.other",
        Attachment("photo"): "attachment.not_kept",
    }
    for event, key in cases.items():
        outcome = step(State(), event)
        assert _keys(outcome.replies) == [key]
        # Words it could not place and messages it cannot read (a voice note may be someone
        # crying): "Talk to someone now" one press away.
        menu = understood_menu() if isinstance(event, Text | Unsupported) else main_menu()
        assert outcome.replies[0].buttons == menu


def test_words_it_could_not_place_keep_the_crisis_lines_one_tap_away() -> None:
    # Despair in wording no list or model knows gets the "what I can do" reply: the crisis
    # lines must still be one press from it, and that press leads with them, not a menu.
    other = step(State(), Text("hello?"))
    assert (Button(T("button.talk"), Action.TALK.value),) in other.replies[0].buttons
    for country, first in ((None, "understand.talk"), ("GB", "understand.talk")):
        talked = step(State(country=country), Pressed(Action.TALK.value))
        reply = talked.replies[0]
        assert _keys(talked.replies)[0] == first and reply.in_place
        lines = [p for p in reply.parts if isinstance(p, Contacts)]
        assert lines == [Contacts(country or "INT", urgent=True, crisis_first=True)]
        assert reply.buttons == menus.self_harm_menu(country is not None)


def test_a_feature_asked_for_in_words_opens_as_its_command_would() -> None:
    for feature in ("triage", "check", "guides", "helplines"):
        asked = Text(
            "…", meaning=Understanding(Intent.OTHER, evidence=(f"words:feature:{feature}",))
        )
        assert step(State(), asked).replies == step(State(), Command(feature)).replies, feature
    note = Text("…", meaning=Understanding(Intent.OTHER, evidence=("words:feature:note",)))
    assert step(State(), note).effects == (VaultEvent(Command("note")),)


def test_a_photo_while_writing_a_note_goes_to_the_vault() -> None:
    photo = Attachment("photo", 1000)
    outcome = step(State(mode=Mode.V_FIELD, draft_step=11), photo)
    assert outcome.effects == (VaultEvent(photo),)


def test_an_image_caption_is_answered_as_typed_words_but_never_inside_a_note() -> None:
    crisis = Attachment("photo", 1000, caption="…", meaning=Understanding(Intent.SELF_HARM))
    typed = Text("…", meaning=Understanding(Intent.SELF_HARM))
    # From idle and from the middle of checking messages: the crisis path, as typed.
    for state in (State(), State(mode=Mode.CHECK)):
        outcome = step(state, crisis)
        assert outcome.replies == step(State(), typed).replies
        assert outcome.state.mode is Mode.IDLE
    story = Attachment("photo", 1000, caption="…", meaning=Understanding(Intent.THREATENED))
    first = step(State(), story).replies[0]
    assert first.parts[0] == T("attachment.not_kept_short")
    assert first.parts[1:] == step(State(), Text("…", meaning=story.meaning)).replies[0].parts
    plain = Attachment("photo", 1000, caption="…", meaning=Understanding(Intent.OTHER))
    assert step(State(), plain).replies[0].parts == (T("attachment.not_kept"),)
    in_note = step(State(mode=Mode.V_FIELD, draft_step=11), crisis)
    assert in_note.effects == (VaultEvent(crisis),)  # a note's picture and words: the vault's


def test_an_edit_is_answered_only_when_it_speaks_of_a_crisis_and_never_inside_the_vault() -> None:
    for intent in (Intent.SELF_HARM, Intent.URGENT):
        edited = Edited("…", meaning=Understanding(intent))
        typed = Text("…", meaning=Understanding(intent))
        # From idle, from the middle of a check or of triage: as the same words typed.
        for state in (State(), State(mode=Mode.CHECK), State(mode=Mode.TRIAGE)):
            outcome = step(state, edited)
            assert outcome.replies == step(State(), typed).replies
            assert outcome.state.mode is Mode.IDLE
    for intent in (Intent.OTHER, Intent.THREATENED, Intent.ERASE, Intent.PASTED):
        # "hi" edited into "hi there", or a story retold: no new answer, nothing changes.
        state = State(mode=Mode.CHECK)
        assert step(state, Edited("…", meaning=Understanding(intent))) == step(state, Edited("…"))
        assert step(state, Edited("…", meaning=Understanding(intent))).replies == ()
        assert step(state, Edited("…", meaning=Understanding(intent))).state == state
    crisis = Edited("…", meaning=Understanding(Intent.SELF_HARM))
    for mode in (Mode.V_FIELD, Mode.V_UNLOCK):
        state = State(mode=mode, draft_step=11)
        assert step(state, crisis).replies == () and step(state, crisis).effects == ()


def test_a_command_while_writing_leaves_the_note_flow() -> None:
    outcome = step(State(mode=Mode.V_FIELD, draft_step=2), Command("help"))
    assert outcome.state.mode is Mode.IDLE
    assert outcome.effects == ()


def test_state_round_trips_and_damaged_state_starts_fresh() -> None:
    state = State(mode=Mode.V_FIELD, locale="en", draft_step=3, warned=True, after_unlock="v")
    assert State.from_bytes(state.to_bytes()) == state
    for damaged in (b"", b"{", b'{"mode": "nope"}', b"[]"):
        assert State.from_bytes(damaged) == State()


def test_a_draft_keeps_its_vault_level_and_an_older_decoy_draft_reads_as_the_first() -> None:
    state = State(mode=Mode.V_FIELD, draft_step=2, draft_level=3)
    assert State.from_bytes(state.to_bytes()).draft_level == 3
    # A state saved before levels said only whether the draft was the decoy's.
    assert State.from_bytes(b'{"mode": "v_field", "draft_decoy": true}').draft_level == 1
    assert State.from_bytes(b'{"draft_level": true}').draft_level == 0
