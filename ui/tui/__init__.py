"""``lwd tui``: the Textual front end for headless monitoring over ssh.

Screens: 1 fleet (status bar, attention queue, fleet table, alert log), 2 episodes (browse,
show with audit trail and timeline, label / relabel with a note), 3 learning (curves against
fleet steps, policy versions), ? help; ctrl+p opens the command palette. It renders the Qt-free
``lwd_operator.fleet_view`` model and acts only through ``HubClient``.
"""
