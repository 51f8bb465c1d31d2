// The import on a list's export and import page (filled in below).
