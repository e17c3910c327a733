"""Fine-tuning: OpenAI-compatible files and jobs APIs, a queue-driven LoRA worker, and registration of
the result as a model the gateway serves. See docs/finetune.md."""
