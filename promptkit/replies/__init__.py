"""Replies in flight: stop, resume and the replies of instances that died (`service`), over a
Redis Stream per reply (`redis_log`) or within this process (`running`)."""
