"""LangChain: ``ChatNeureus`` and ``NeureusEmbeddings`` (``pip install "neureus[langchain]"``).

Run it with ``python examples/langchain_chat.py``. With NEUREUS_API_KEY set it talks to the
real gateway; without, to the built-in emulator.
"""

from __future__ import annotations

from _setup import make_client


def main() -> None:
    client, where = make_client()
    print(where)
    try:
        from langchain_core.messages import HumanMessage, SystemMessage

        from neureus.langchain import ChatNeureus, NeureusEmbeddings
    except ImportError:
        print('LangChain is not installed: pip install "neureus[langchain]"')
        return
    with client:
        llm = ChatNeureus(model="gpt-4o-mini", temperature=0, client=client)
        reply = llm.invoke([SystemMessage("Be brief."), HumanMessage("What is edge computing?")])
        print(f"invoke -> {reply.content}")
        print(f"          usage {reply.usage_metadata}, log {reply.response_metadata['log_id']}")

        print("stream (stop=['.']) -> ", end="")
        for chunk in llm.stream("Tell me about the sea. Then more.", stop=["."]):
            print(chunk.content, end="", flush=True)
        print()

        embeddings = NeureusEmbeddings(model="text-embedding-3-small", client=client)
        vectors = embeddings.embed_documents(["edge", "cloud"])
        print(f"embeddings -> {len(vectors)} vectors of {len(vectors[0])} floats")


if __name__ == "__main__":
    main()
