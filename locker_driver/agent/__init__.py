"""The locker agent: runs on the bus's on-board computer next to the lock boards.

It keeps device-local state in SQLite (:mod:`.store`), serves the kiosk and courier pages
(:mod:`.web`), drives the doors through :class:`locker_driver.LockerBus` (:mod:`.service`) and syncs
an outbox of events with the controller when the link allows (:mod:`.sync`). Deposits and pickups
work with the controller unreachable.

Start it with ``locker-agent run --port URL --controller URL --token T --locker ID``.
"""
