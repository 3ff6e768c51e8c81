"""The pure conversation step: states, commands, buttons, bad input."""

from __future__ import annotations

from safetybot.core.events import Attachment, Command, Forwarded, Pressed, Text, Unsupported
from safetybot.core.events import UnsupportedKind as Kind
from safetybot.core.flow import (
    MAX_TEXT,
    Forget,
    Mode,
    SaveNote,
    ShowNotes,
    State,
    step,
)
from safetybot.core.menus import Action, GuideId, guides_menu, main_menu
from safetybot.core.replies import GuideText, T


def _keys(outcome_replies: tuple[object, ...]) -> list[str]:
    return [p.key for r in outcome_replies for p in r.parts if isinstance(p, T)]  # type: ignore[attr-defined]


def test_start_shows_the_intro_and_main_menu() -> None:
    outcome = step(State(), Command("start"))
    assert _keys(outcome.replies) == ["start.intro"]
    assert outcome.replies[0].buttons == main_menu()


def test_note_command_waits_for_text_then_saves_it() -> None:
    waiting = step(State(), Command("note"))
    assert waiting.state.mode is Mode.WRITING_NOTE
    saved = step(waiting.state, Text("  he said he'd post it  "))
    assert saved.effects == (SaveNote("he said he'd post it"),)
    assert saved.state.mode is Mode.IDLE


def test_note_with_text_in_the_command_saves_at_once() -> None:
    assert step(State(), Command("note", "threat at 9pm")).effects == (SaveNote("threat at 9pm"),)


def test_a_forwarded_message_can_be_a_note() -> None:
    writing = State(mode=Mode.WRITING_NOTE)
    assert step(writing, Forwarded("pay or else")).effects == (SaveNote("pay or else"),)


def test_empty_and_oversized_notes_save_nothing_and_keep_waiting() -> None:
    writing = State(mode=Mode.WRITING_NOTE)
    for text in ("   ", "x" * (MAX_TEXT + 1)):
        outcome = step(writing, Text(text))
        assert outcome.effects == ()
        assert outcome.state.mode is Mode.WRITING_NOTE
    assert _keys(step(writing, Text("x" * (MAX_TEXT + 1))).replies) == ["text.too_long"]


def test_a_note_of_exactly_the_limit_is_saved() -> None:
    outcome = step(State(mode=Mode.WRITING_NOTE), Text("x" * MAX_TEXT))
    assert outcome.effects == (SaveNote("x" * MAX_TEXT),)


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


def test_unknown_commands_unsupported_messages_and_free_text_get_the_menu() -> None:
    cases = {
        Command("frobnicate"): "unknown_command",
        Unsupported(Kind.STICKER): "unsupported",
        Text("hello?"): "text.unexpected",
        Attachment("photo"): "attachment.not_kept",
    }
    for event, key in cases.items():
        outcome = step(State(), event)
        assert _keys(outcome.replies) == [key]
        assert outcome.replies[0].buttons == main_menu()


def test_a_photo_while_writing_a_note_keeps_the_note_in_progress() -> None:
    outcome = step(State(mode=Mode.WRITING_NOTE), Attachment("photo", 1000))
    assert outcome.state.mode is Mode.WRITING_NOTE
    assert outcome.effects == ()


def test_a_command_while_writing_leaves_the_note_flow() -> None:
    outcome = step(State(mode=Mode.WRITING_NOTE), Command("notes"))
    assert outcome.state.mode is Mode.IDLE
    assert outcome.effects == (ShowNotes(in_place=False),)


def test_state_round_trips_and_damaged_state_starts_fresh() -> None:
    state = State(mode=Mode.WRITING_NOTE, locale="en")
    assert State.from_bytes(state.to_bytes()) == state
    for damaged in (b"", b"{", b'{"mode": "nope"}', b"[]"):
        assert State.from_bytes(damaged) == State()
