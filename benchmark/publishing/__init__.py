"""Publishing: everything a reader sees, computed from records alone. The
board as data (`board`), its markdown and build (`leaderboard`), the web page
(`site`, with `page/`), figures (`figures`), analyses (`analysis`), the
paper's findings (`findings`) and submissions of split schemes (`submit`)."""
