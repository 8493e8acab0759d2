"""DeepSpeed ZeRO configs shipped with the trainer (``--deepspeed zero2`` / ``zero3``)."""
