"""The stages, each a function of a config record: generate/, evaluate/ (with merge), judge,
emid, represent, import_shifted. They read and write files only through ``store``."""
