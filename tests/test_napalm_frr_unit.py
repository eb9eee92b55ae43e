"""The FRR driver's reading of a long-lived vtysh's output (pure)."""

from __future__ import annotations

from netorch.transport.napalm_frr.channel import split_outputs

MARKS = ["netorch-mark-ab-0", "netorch-mark-ab-1"]


def batch(lead: str) -> str:
    return (f"{lead}r2# Building configuration...\n\nhostname r2\n!\nr2# % Unknown command: {MARKS[0]}\n"
            f"r2# {{\"routes\": {{}}}}\nr2# % Unknown command: {MARKS[1]}\n")


def test_each_command_gets_its_own_output() -> None:
    assert split_outputs(batch(""), MARKS) == ["Building configuration...\n\nhostname r2\n!\n",
                                              '{"routes": {}}\n']


def test_a_prompt_left_over_from_the_previous_batch_is_not_output() -> None:
    # vtysh's prompt after the previous batch's last mark can arrive after that batch was read
    assert split_outputs(batch("r2# "), MARKS) == split_outputs(batch(""), MARKS)
    assert split_outputs(batch("r2(config)# r2# "), MARKS)[0].startswith("Building configuration")


def test_the_end_of_a_line_that_arrived_late_is_not_output() -> None:
    # the end of the ready mark's line (or the previous batch's last one) can arrive with the next
    # batch: a leading line end then comes before the prompt, and both are not output
    for lead in ("\n", "\r\n".replace("\r", ""), "\nr2# ", "\n\n"):
        assert split_outputs(batch(lead), MARKS) == split_outputs(batch(""), MARKS), repr(lead)
