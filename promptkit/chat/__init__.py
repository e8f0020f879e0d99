"""A chat turn, from `POST /chat` to the stored reply. One module per step:

- `turn`: taking the turn. The conversation's lease (named after the reply it streams, so
  storing the reply ends it), the history read beside it, the context, the provider's request
  and the user message; everything that can still answer with a plain HTTP error.
- `history`: what is sent upstream: the system prompt, the history that fits the budget, the
  new message.
- `tool_loop`: the model calls tools, the kernel runs them and calls the model again.
- `pump`: the handover between the provider's stream and the response.
- `stream`: the response, the reply as UI message stream parts.
- `wire`: the encoding of those parts, and the `UIMessage` parts kept to store.
- `recorder`: what the reply produced, checkpointed while it streams and stored once when it
  ends, whatever ended it.
"""

from .stream import reply_events, stream_response
from .turn import Ask, Turn, start_turn

__all__ = ["Ask", "Turn", "reply_events", "start_turn", "stream_response"]
