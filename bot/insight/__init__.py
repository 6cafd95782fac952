"""What people do with shopbot, counted and summed up: the usage counters
(``usage``) and the figures of the lead's dashboard and ``shopbot stats``
(``dashboard``)."""
