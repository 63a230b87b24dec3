"""The layers of deepbasic.nn, grouped by kind."""
