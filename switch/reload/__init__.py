"""Config reload while the switch runs: what changes and what needs a restart
(:mod:`~switch.reload.plan`, pure), and the reload itself: read, validate, apply, say
so (:mod:`~switch.reload.service`)."""
