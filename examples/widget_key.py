"""Widget keys: a chat-only ``pk_`` key you can embed in a web page.

Create one, chat with it, see that anything but chat is refused before a request is
sent, then revoke it. Run it with ``python examples/widget_key.py`` (the real gateway when
NEUREUS_API_KEY is set, else the built-in emulator).
"""

from __future__ import annotations

from _setup import make_client

from neureus import AuthenticationError, WidgetKeyScopeError


def main() -> None:
    client, where = make_client()
    print(where)
    with client:
        widget = client.ai.create_widget_key(agent_id="agent_docs_helper")
        print(f"\ncreated {widget!r}")  # the repr shows the key redacted; widget.key holds it all

        # A client using the widget key (sharing this client's connection pool).
        public = client.with_options(api_key=widget.key)
        reply = public.ai.chat([{"role": "user", "content": "Hello from the browser"}])
        print(f"chat with the widget key -> {reply.text}")

        try:
            public.ai.list_models()
        except WidgetKeyScopeError as exc:
            print(f"anything but chat -> WidgetKeyScopeError: {exc}")

        revoked = client.ai.revoke_widget_key(widget.key)
        print(f"revoked: {revoked.revoked}")
        try:
            public.ai.chat([{"role": "user", "content": "Still there?"}])
        except AuthenticationError as exc:
            print(f"chat after revoking -> AuthenticationError ({exc.status_code})")


if __name__ == "__main__":
    main()
