"""Side-by-side benchmarks, one module each: ``add_arguments(parser)`` and ``run(args)``."""
