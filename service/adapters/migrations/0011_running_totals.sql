-- What a decision counts, kept as running totals beside the appeasements, so a decision
-- reads a few rows however many appeasements an order or a customer already has:
--   appeased_by_line         money held on each order line (statuses that hold money);
--   appeased_by_reason       per order and reason: what is held, and what was let out;
--   granted_by_customer_day  per customer, currency and UTC day: what was let out.
-- Triggers keep them in the transaction that changes an appeasement or adds its allocation.

CREATE FUNCTION appeasement_holds_money(status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT status IN ('PENDINGAPPROVAL', 'PENDINGRELEASE', 'RELEASED') $$;

CREATE FUNCTION appeasement_granted(status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT status IN ('PENDINGRELEASE', 'RELEASED') $$;

CREATE TABLE appeased_by_line (
    order_id            text NOT NULL,
    order_line          text NOT NULL,
    gross_minor         bigint NOT NULL,
    tax_minor           bigint NOT NULL,
    PRIMARY KEY (order_id, order_line)
);

CREATE TABLE appeased_by_reason (
    order_id            text NOT NULL,
    reason              text NOT NULL,
    held_minor          bigint NOT NULL,
    granted_minor       bigint NOT NULL,
    PRIMARY KEY (order_id, reason)
);

CREATE TABLE granted_by_customer_day (
    customer_id         text NOT NULL,
    currency            text NOT NULL,
    day                 date NOT NULL,
    granted_minor       bigint NOT NULL,
    PRIMARY KEY (customer_id, currency, day)
);

-- An appeasement's money on its lines, counted `sign` times (1 in, -1 out).
CREATE FUNCTION count_appeasement_lines(a appeasements, sign integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF appeasement_holds_money(a.status) THEN
        INSERT INTO appeased_by_line AS t (order_id, order_line, gross_minor, tax_minor)
        SELECT a.order_id, al.order_line, sign * sum(al.gross_minor), sign * sum(al.tax_minor)
        FROM appeasement_allocations al WHERE al.appeasement_id = a.appeasement_id
        GROUP BY al.order_line ORDER BY al.order_line
        ON CONFLICT (order_id, order_line) DO UPDATE
        SET gross_minor = t.gross_minor + excluded.gross_minor,
            tax_minor = t.tax_minor + excluded.tax_minor;
    END IF;
END $$;

-- An appeasement's amount for its order's reason and its customer's day, `sign` times.
CREATE FUNCTION count_appeasement_amount(a appeasements, sign integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    held bigint := CASE WHEN appeasement_holds_money(a.status) THEN sign * a.amount_minor ELSE 0 END;
    granted bigint := CASE WHEN appeasement_granted(a.status) THEN sign * a.amount_minor ELSE 0 END;
BEGIN
    IF held <> 0 OR granted <> 0 THEN
        INSERT INTO appeased_by_reason AS t (order_id, reason, held_minor, granted_minor)
        VALUES (a.order_id, a.reason, held, granted)
        ON CONFLICT (order_id, reason) DO UPDATE
        SET held_minor = t.held_minor + excluded.held_minor,
            granted_minor = t.granted_minor + excluded.granted_minor;
    END IF;
    IF granted <> 0 AND a.customer_id IS NOT NULL AND a.currency IS NOT NULL THEN
        INSERT INTO granted_by_customer_day AS t (customer_id, currency, day, granted_minor)
        VALUES (a.customer_id, a.currency, (a.created_at AT TIME ZONE 'UTC')::date, granted)
        ON CONFLICT (customer_id, currency, day) DO UPDATE
        SET granted_minor = t.granted_minor + excluded.granted_minor;
    END IF;
END $$;

CREATE FUNCTION appeasement_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM count_appeasement_lines(OLD, -1);
        PERFORM count_appeasement_amount(OLD, -1);
        PERFORM count_appeasement_lines(NEW, 1);
    END IF;
    PERFORM count_appeasement_amount(NEW, 1);
    RETURN NULL;
END $$;

-- An allocation is written after its appeasement (it references it): its money is counted
-- on its line when it is written, and moved with its appeasement's status afterwards.
CREATE FUNCTION allocation_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO appeased_by_line AS t (order_id, order_line, gross_minor, tax_minor)
    SELECT a.order_id, NEW.order_line, NEW.gross_minor, NEW.tax_minor
    FROM appeasements a
    WHERE a.appeasement_id = NEW.appeasement_id AND appeasement_holds_money(a.status)
    ON CONFLICT (order_id, order_line) DO UPDATE
    SET gross_minor = t.gross_minor + excluded.gross_minor,
        tax_minor = t.tax_minor + excluded.tax_minor;
    RETURN NULL;
END $$;

CREATE TRIGGER appeasement_inserted AFTER INSERT ON appeasements
    FOR EACH ROW EXECUTE FUNCTION appeasement_counted();
CREATE TRIGGER appeasement_changed
    AFTER UPDATE OF status, order_id, reason, amount_minor, customer_id, currency, created_at
    ON appeasements FOR EACH ROW
    WHEN ((OLD.status, OLD.order_id, OLD.reason, OLD.amount_minor, OLD.customer_id,
           OLD.currency, OLD.created_at)
          IS DISTINCT FROM (NEW.status, NEW.order_id, NEW.reason, NEW.amount_minor,
           NEW.customer_id, NEW.currency, NEW.created_at))
    EXECUTE FUNCTION appeasement_counted();
CREATE TRIGGER allocation_inserted AFTER INSERT ON appeasement_allocations
    FOR EACH ROW EXECUTE FUNCTION allocation_counted();

-- Allocations and appeasements are kept for good: neither is updated in its money nor
-- deleted.
CREATE FUNCTION appeasement_money_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'appeasement money is kept: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER allocation_kept
    BEFORE UPDATE OF appeasement_id, order_line, gross_minor, tax_minor OR DELETE
    ON appeasement_allocations FOR EACH ROW EXECUTE FUNCTION appeasement_money_kept();
CREATE TRIGGER appeasement_kept BEFORE DELETE ON appeasements
    FOR EACH ROW EXECUTE FUNCTION appeasement_money_kept();

-- What is there already.
INSERT INTO appeased_by_line (order_id, order_line, gross_minor, tax_minor)
SELECT a.order_id, al.order_line, sum(al.gross_minor), sum(al.tax_minor)
FROM appeasement_allocations al JOIN appeasements a USING (appeasement_id)
WHERE appeasement_holds_money(a.status)
GROUP BY a.order_id, al.order_line;

INSERT INTO appeased_by_reason (order_id, reason, held_minor, granted_minor)
SELECT order_id, reason,
    coalesce(sum(amount_minor) FILTER (WHERE appeasement_holds_money(status)), 0),
    coalesce(sum(amount_minor) FILTER (WHERE appeasement_granted(status)), 0)
FROM appeasements
WHERE appeasement_holds_money(status) OR appeasement_granted(status)
GROUP BY order_id, reason;

INSERT INTO granted_by_customer_day (customer_id, currency, day, granted_minor)
SELECT customer_id, currency, (created_at AT TIME ZONE 'UTC')::date, sum(amount_minor)
FROM appeasements
WHERE appeasement_granted(status) AND customer_id IS NOT NULL AND currency IS NOT NULL
GROUP BY customer_id, currency, (created_at AT TIME ZONE 'UTC')::date;

-- The first day of a customer's window is summed from the appeasements themselves.
CREATE INDEX appeasements_by_customer_currency ON appeasements (customer_id, currency, created_at);
