"""Lock-board simulator on a pseudo-terminal (API: :class:`BoardSimulator`; CLI: ``python -m locker_driver.sim``)."""

from locker_driver.sim.simulator import BoardSimulator, Fault

__all__ = ["BoardSimulator", "Fault"]
