"""``python -m locker_driver.sim --boards 1,2 [--locks 24] [--occupancy] [--echo]``."""

from locker_driver.sim.console import sim_command

if __name__ == "__main__":
    sim_command(prog_name="python -m locker_driver.sim")
