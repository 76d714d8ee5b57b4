"""Pickup codes: HMAC, lockout numbers and what a guesser can achieve."""

from __future__ import annotations

import pytest

from locker_driver.agent import codes
from locker_driver.agent.codes import CodePolicy


def test_codes_are_six_digits_and_stored_as_hmac_only() -> None:
    code = codes.new_code()
    assert len(code) == 7 and code.isdigit()
    digest = codes.code_hmac("key", code)
    assert code not in digest and len(digest) == 64
    assert digest != codes.code_hmac("other-key", code)  # the device key matters


def test_lockout_starts_at_the_fifth_failure_and_doubles_to_a_cap() -> None:
    policy = CodePolicy()
    assert [codes.lockout_s(policy, n) for n in range(1, 5)] == [0, 0, 0, 0]
    assert [codes.lockout_s(policy, n) for n in (5, 6, 7)] == [1800, 3600, 7200]
    assert codes.lockout_s(policy, 30) == 24 * 3600


@pytest.mark.parametrize("live_codes", [1, 5, 10, 24])
def test_an_attacker_guesses_a_live_code_in_a_day_with_probability_below_1e_4(live_codes: int) -> None:
    policy = CodePolicy()
    attempts = codes.attacker_attempts_per_day(policy)
    probability = codes.guess_probability_per_day(policy, live_codes)
    print(f"\nkeypad: {attempts} attempts in the first day (~{attempts / 24:.2f}/h); "
          f"P(open any of {live_codes} live codes in a day) = {probability:.2e}")
    assert attempts == 10  # 5 free, then at +30 min, +1 h, +2 h, +4 h, +8 h after each lockout
    assert probability < 1e-4


def test_a_full_24_door_locker_is_why_codes_have_seven_digits() -> None:
    # 6 digits would miss the bound for a full locker: 10 guesses x 24 live codes / 10**6 = 2.4e-4.
    assert codes.guess_probability_per_day(CodePolicy(digits=6), 24) > 1e-4
    assert CodePolicy().digits == 7
    print(f"\n7 digits, 24 live codes: P = {codes.guess_probability_per_day(CodePolicy(), 24):.2e}")
    assert codes.guess_probability_per_day(CodePolicy(), 24) < 1e-4
