// What every panel does with its status line and its error line.

export class Panel {
  constructor(name) {
    this.statusLine = document.getElementById(`${name}-status`);
    this.errorLine = document.getElementById(`${name}-error`);
  }

  status(text) {
    this.statusLine.textContent = text;
  }

  // Shows an error's own message (the server's, for an ApiError), never a stack trace.
  error(error) {
    this.errorLine.textContent = error instanceof Error ? error.message : String(error);
    this.errorLine.hidden = false;
  }

  clearError() {
    this.errorLine.textContent = "";
    this.errorLine.hidden = true;
  }
}

export function formatMs(ms) {
  return `${Math.round(ms)} ms`;
}

export function formatSeconds(seconds) {
  return `${seconds.toFixed(2)} s`;
}
