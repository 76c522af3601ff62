"""Models and providers: what the gateway routes to, at what price, and which BYOK
providers this tenant has configured.

Run it with ``python examples/models_and_providers.py`` (the real gateway when
NEUREUS_API_KEY is set, else the built-in emulator).
"""

from __future__ import annotations

from collections import defaultdict

from _setup import make_client


def main() -> None:
    client, where = make_client()
    print(where)
    with client:
        models = client.ai.list_models()
        by_provider = defaultdict(list)
        for model in models:
            by_provider[model.provider or "?"].append(model.id)
        print(f"\n{len(models)} models:")
        for provider, ids in sorted(by_provider.items()):
            print(f"  {provider:<11} {', '.join(ids)}")

        # Filters are applied by the gateway.
        coding = client.ai.list_models(type="coding")
        print(f"\nfor coding: {[m.id for m in coding]}")
        sonnet = models.get("claude-sonnet-4-6")
        if sonnet is not None:
            print(f"claude-sonnet-4-6: {sonnet.context_window:,} tokens of context, ${sonnet.input_cost_per_1k}/1k in")

        # Cost before you spend, from the listed prices.
        messages = [{"role": "user", "content": "Summarise the GDPR in one paragraph."}]
        for model_id in ("claude-sonnet-4-6", "gpt-4o-mini", "meta/llama-3.1-8b"):
            estimate = client.ai.estimate_cost(messages, model=model_id, max_output_tokens=300)
            print(f"  {model_id:<18} at most ${estimate.total_usd:.6f}")

        providers = client.ai.list_providers()
        configured = [p.provider for p in providers if p.configured]
        print(f"\nBYOK providers configured: {configured or 'none (the gateway uses its own keys)'}")


if __name__ == "__main__":
    main()
