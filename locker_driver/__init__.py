"""locker_driver package."""
