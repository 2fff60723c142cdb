"""The complaint workflow: states, who may move a complaint between them, and the service
functions behind the officials' and reporters' mutations."""
