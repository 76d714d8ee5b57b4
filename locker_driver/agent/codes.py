"""Pickup codes: generation, HMAC under the device key, keypad lockout (lookup: ``Store.find_code``).

Codes are ``digits`` random decimal digits. Only ``HMAC-SHA256(code_key, code)`` (hex) is stored,
on the agent and on the controller; the key is the locker's code key (the controller derives it from
its secret, see ``controller.services.lockers.locker_code_key``; the agent gets it as
``--code-key``/``LOCKER_CODE_KEY`` and never writes it to its database).

Lockout policy (:class:`CodePolicy`, defaults): the keypad allows ``free_failures`` = 5 wrong codes;
the 5th and every later failure locks it for ``lockout_base_s`` = 30 min doubling per further failure,
capped at ``lockout_max_s`` = 24 h. Failures are forgotten only after ``failure_memory_s`` = 24 h
without a failure, and a right code does not reset them (an attacker holding one real code must not
be able to wipe the counter). An attacker therefore gets at most
:func:`attacker_attempts_per_day` = 10 guesses in any first day and fewer afterwards; with N live
codes each guess wins with probability N / 10**digits (:func:`guess_probability_per_day`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class CodePolicy:
    """Numbers of the pickup-code scheme (times in s)."""

    digits: int = 7
    ttl_s: float = 72 * 3600.0
    free_failures: int = 5
    lockout_base_s: float = 1800.0
    lockout_max_s: float = 24 * 3600.0
    failure_memory_s: float = 24 * 3600.0

    def __post_init__(self) -> None:
        if not 4 <= self.digits <= 12:
            raise ValueError("digits must be 4-12")
        if self.free_failures < 1 or self.lockout_base_s <= 0 or self.lockout_max_s < self.lockout_base_s:
            raise ValueError("lockout numbers must be positive and base <= max")


def new_code(digits: int = 7) -> str:
    """Return a uniformly random code of ``digits`` decimal digits (leading zeros kept)."""
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def code_hmac(code_key: str, code: str) -> str:
    """Return HMAC-SHA256 of ``code`` under ``code_key``, hex (same as the controller's ``hash_secret``).

    >>> len(code_hmac("k", "123456"))
    64
    """
    return hmac.new(code_key.encode(), code.encode(), hashlib.sha256).hexdigest()


def lockout_s(policy: CodePolicy, failures: int) -> float:
    """Return how long the keypad stays locked after its ``failures``-th recorded failure, in s."""
    if failures < policy.free_failures:
        return 0.0
    return min(policy.lockout_base_s * 2 ** (failures - policy.free_failures), policy.lockout_max_s)


def attacker_attempts_per_day(policy: CodePolicy, horizon_s: float = 86400.0) -> int:
    """Return how many codes a patient attacker can try within ``horizon_s`` s from a fresh counter,
    trying again the instant each lockout ends."""
    t, failures = 0.0, 0
    while t <= horizon_s:
        failures += 1
        t += lockout_s(policy, failures)
    return failures


def guess_probability_per_day(policy: CodePolicy, live_codes: int) -> float:
    """Return the probability that an attacker opens any of ``live_codes`` doors within a day."""
    per_guess = live_codes / 10**policy.digits
    return -math.expm1(attacker_attempts_per_day(policy) * math.log1p(-per_guess))
