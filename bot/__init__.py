"""shopbot application: one wing per concern (``translation``, ``knowledge``, ``people``, ``telegram``), with ``config``, ``storage``, ``app`` (the services) and the CLI at the root.
The root modules may import the domain wings; front ends (``telegram``, later ``web``) sit on top and nothing but ``bot.cli`` starts them."""
