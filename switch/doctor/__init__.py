"""``switch doctor``: what a technician checks on a box, and what to do about it.

- :mod:`switch.doctor.checks` — the checks (ports, programs, modems, time, disk, data
  directory), each with a plain-words fix;
- :mod:`switch.doctor.procfs` — who holds a port or a device, which programs run.
"""
