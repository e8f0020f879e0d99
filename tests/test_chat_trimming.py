"""`build_messages`, the context trimming, over generated histories."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from promptkit.chat.history import build_messages

texts = st.text(min_size=0, max_size=30)
rows = st.lists(
    st.tuples(st.sampled_from(["user", "assistant"]), texts).map(
        lambda pair: {"role": pair[0], "content": pair[1]}
    ),
    max_size=30,
)


@given(system=st.none() | st.text(min_size=1, max_size=40), history=rows, new=texts,
       budget=st.integers(0, 400))  # fmt: skip
def test_trimming_keeps_the_ends_and_the_newest_turns_within_budget(system, history, new, budget):
    sent = build_messages(system, history, new, budget)

    assert sent[-1].role == "user" and sent[-1].content == new
    if system:
        assert sent[0].role == "system" and sent[0].content == system
    middle = sent[1 if system else 0 : -1]
    # What is kept is the newest stretch of the (non-empty) history, in order ...
    nonempty = [(r["role"], r["content"]) for r in history if r["content"]]
    kept = [(m.role, m.content) for m in middle]
    assert kept == nonempty[len(nonempty) - len(kept) :]
    # ... never opening on a reply, and within budget unless only the two ends remain.
    assert not middle or middle[0].role == "user"
    if middle:
        assert sum(len(m.content) for m in sent) <= budget
