"""Backups of a box: the backup file and restoring it (:mod:`~switch.backup.archive`),
the daily backup with retention and ``backup.now`` (:mod:`~switch.backup.schedule`)."""
