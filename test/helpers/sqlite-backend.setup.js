process.env.NESTMQ_TEST_BACKEND = 'sqlite';
