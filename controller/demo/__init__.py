"""A simulated Shengsi day: drones, buses, ferries, lockers and a parcel trickle around the controller.

:mod:`controller.demo.network` is the runtime shared by ``dispatch up`` and ``dispatch demo``;
:mod:`controller.demo.report` computes every number of a demo report from the database.
"""
