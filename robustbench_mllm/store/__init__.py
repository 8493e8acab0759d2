"""The only code that opens files of the two folder contracts, GENERATED/ and RUN/ (see
``layout`` and docs/architecture.md): one module per file format."""
