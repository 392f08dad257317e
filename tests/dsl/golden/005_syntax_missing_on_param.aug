param z : category(3)[N] missing -1
