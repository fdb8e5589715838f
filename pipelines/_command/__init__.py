"""The ``qecpipe`` command line: ``main`` and one module per subcommand."""
