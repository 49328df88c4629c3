"""asv suites for fastcf: time_*, peakmem_* and (for models) track_* quality on one grid."""
