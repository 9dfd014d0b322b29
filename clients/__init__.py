"""Reference clients: stream speech, echo a recording, recognize live speech."""
