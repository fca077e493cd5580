"""Pure page understanding: one charset decoder, what a page says about itself, and the videos it carries.

Nothing here touches the network or the database: bytes in, facts out.
"""
