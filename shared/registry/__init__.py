"""The one table of models (name -> role, backend, class, config, weights), ``semcom models``, and tiny hub fixtures."""
