-- A snapshot is the whole order: a line a newer snapshot no longer lists is kept for
-- history (its paid figures stay) but marked dropped, and the balance counts nothing paid
-- on it. A later snapshot that lists it again clears the mark.
ALTER TABLE order_lines ADD COLUMN dropped boolean NOT NULL DEFAULT false;
